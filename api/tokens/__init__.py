"""Access tokens: organizers' tokens issued by admins, the list, revocation."""
