"""REST routes and the SSE route: parse → resolver → serialize."""
