"""experience-partner: the partners' API (DESIGN §1): a stable, versioned ``/partner/v1`` order contract."""
