"""experience-web: the web shop's API (DESIGN §1): rich order views over process-orders."""
