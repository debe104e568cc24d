"""Business rules per resource; API handlers call one function here."""
