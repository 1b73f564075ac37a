"""experience-mobile: the mobile apps' API (DESIGN §1): compact order views over process-orders."""
