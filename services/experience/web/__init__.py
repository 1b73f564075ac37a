"""experience-web: the web shop's API (DESIGN §1): rich order views over process-orders, and products with their
price and availability."""
