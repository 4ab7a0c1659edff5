/*
title: Orders
description: Every order, in id order.
key: [id]
*/
select id, customer_id, status, amount, currency, created_at, shipped_at, note, metadata
from orders
