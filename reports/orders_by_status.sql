/*
title: Orders by status
description: Every order with the given status since a moment, oldest first.
key: [created_at, id]
params:
  status: { type: string, enum: [pending, paid, shipped, cancelled] }
  since:  { type: string, format: date-time, default: "2020-01-01T00:00:00Z" }
required: [status]
*/
select id, customer_id, status, amount, currency, created_at
from orders
where status = :status::order_status and created_at >= :since::timestamptz
