-- PATCH a random seeded customer, 2-3 random fields.
request = patch_request
