"""The community tree (网格单元): units, their ancestors and children, roll-up totals."""
