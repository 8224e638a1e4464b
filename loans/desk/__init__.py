"""The borrow desk: trading desks' borrow requests, allocation of lendable inventory, booking
as loans (its own app, label `desk`, inside the loan book: it books through loans.services;
the loan book never imports it)."""
