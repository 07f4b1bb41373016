"""For operators: liveness, readiness, Prometheus metrics, and the admins' event feed."""
