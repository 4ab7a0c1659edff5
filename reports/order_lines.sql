/*
title: Order lines
description: Every line of every order with its product, by order and line number.
key: [order_id, line]
params:
  min_quantity: { type: integer, minimum: 1, default: 1 }
*/
select i.order_id, i.line, o.created_at as ordered_at, p.sku, p.name as product,
       i.quantity, i.unit_price, i.discount,
       round(i.quantity * i.unit_price * (1 - coalesce(i.discount, 0)), 2) as total
from order_items i
join orders o on o.id = i.order_id
join products p on p.id = i.product_id
where i.quantity >= :min_quantity
