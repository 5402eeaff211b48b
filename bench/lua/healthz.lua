-- The ceiling: /healthz touches nothing, so this is the server stack's own cost per request.
-- A static request (no request() function) keeps wrk's side as cheap as possible.
wrk.method = "GET"
wrk.path = "/healthz"
