/*
title: Revenue by day
description: Paid and shipped revenue per day and currency. An aggregate is computed once over one snapshot, so it streams from a cursor.
key: [day, currency]
strategy: cursor
# over every order, not only the paid and shipped since :since: an order that is cancelled leaves
# the sums, and its own updated_at is the only trace of that
version: select max(updated_at) from orders
params:
  since: { type: string, format: date, default: "2000-01-01" }
*/
select (created_at at time zone 'UTC')::date as day, currency,
       count(*) as orders, sum(amount) as revenue
from orders
where status in ('paid', 'shipped') and created_at >= :since::date
group by 1, 2
