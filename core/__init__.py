"""Building blocks without business rules (the Actor); every app may import it."""
