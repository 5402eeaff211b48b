-- POST /api/resources/customers (onconflict=upsert): half existing ids, half new ones.
request = upsert_request
