"""The seller's offers on eMAG: one concept, named as follows.

- **offer** everywhere in code and API: the model :class:`~magflow.catalog.models.EmagOffer`, the
  schema ``OfferOut``, the routes ``/api/v1/emag/offers``. eMAG itself calls them offers
  (``product_offer/read``, docs/emag-protocol.md, "Offers"); "product" is the eMAG catalogue
  entry an offer sells, which MagFlow does not store.
- ``EmagOffer``, not ``Offer``: stored rows carry the ``Emag`` prefix like their siblings
  (``EmagOrder``, ``EmagReturn``, ``EmagCustomer``), and ``magflow.emag.schemas.Offer`` already
  names the offer as eMAG sends it over the wire; the two are different shapes.
- The table keeps its historical name ``emag_products_v2`` (a public contract: reports and
  migrations use it); the package keeps the name ``catalog`` (the seller's catalogue of offers)
  because every domain imports it and renaming it would only move files.
"""
