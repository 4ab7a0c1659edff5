/*
title: Products
description: The catalogue with prices and attributes.
key: [id]
max_rows: 100000
*/
select id, sku, name, price, attributes, created_at
from products
