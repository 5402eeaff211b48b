-- GET one customer, a random seeded id each time.
request = get_request
