/*
title: Orders
description: Every order, in id order.
key: [id]
# the newest change to any order (orders.updated_at, kept by a trigger): one step down its index.
# A deleted order does not move it; a count(*) would see that, at 70 ms a poll on 1M orders.
version: select max(updated_at) from orders
# the transaction that last wrote each order (a trigger keeps it, an index serves it): every
# response carries a sync token, and ?changed_since=<token> pulls only the orders written since
changes: change_xid
*/
select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata, change_xid
from orders
