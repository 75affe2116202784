"""Invoices and credit notes for eMAG orders: issued at the account's provider (built-in,
SmartBill, Oblio), served at an unguessable MagFlow URL and attached to the order on eMAG."""
