"""The long-running side of the product: scheduler, webhook receiver and inbox worker."""
