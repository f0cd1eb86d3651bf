"""The demo system Vigil watches: orders-api, inventory-api and a worker over one database.

Modules: config (tokens, ports, env), db (schema + seed), web (shared HTTP plumbing),
inventory_api, orders_api (+ orders_store, orders_feed, inventory_client), worker,
fault_state + faults (switches, CLI), slow_index (the slow-index fault), defects
(corrupt/restore), launcher, serve.
"""
