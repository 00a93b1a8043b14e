"""The execution event log (written with each step) and the bus that fans it out."""
