"""The zpyro broker: name server, call router over pools of daemons, announcements (docs/BROKER.md)."""
