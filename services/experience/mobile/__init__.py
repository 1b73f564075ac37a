"""experience-mobile: the mobile apps' API (DESIGN §1): compact order views over process-orders, and compact
products with their price and availability, every GET revalidated with ETags."""
