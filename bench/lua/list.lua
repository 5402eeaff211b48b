-- One list page, the same one every time (BENCH_PATH: page 1, or a cursor deep in the list).
request = list_request
