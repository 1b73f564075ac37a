"""SQLite schema of the sandbox ERP: one table per Odoo model the JSON-2 subset serves.

Column names are Odoo's field names so that the generic search/read in ``routes.py`` can map a field to a
column without a translation table. There is deliberately no UNIQUE on ``sale_order.client_order_ref`` or
``account_move.ref``: Odoo has none, and the connector's per-ref lock is what must prevent duplicates.
"""

from __future__ import annotations

SCHEMA = """
CREATE TABLE res_currency (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE product_category (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE product_product (
  id INTEGER PRIMARY KEY, default_code TEXT, name TEXT NOT NULL, barcode TEXT,
  list_price REAL NOT NULL DEFAULT 0, categ_id INTEGER REFERENCES product_category(id),
  currency_id INTEGER REFERENCES res_currency(id), active INTEGER NOT NULL DEFAULT 1,
  weight REAL NOT NULL DEFAULT 0, write_date TEXT NOT NULL);
CREATE INDEX product_product_default_code ON product_product(default_code);
CREATE TABLE stock_warehouse (id INTEGER PRIMARY KEY, code TEXT NOT NULL, name TEXT NOT NULL);
CREATE TABLE stock_location (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, warehouse_id INTEGER REFERENCES stock_warehouse(id));
CREATE TABLE stock_quant (
  id INTEGER PRIMARY KEY, product_id INTEGER NOT NULL REFERENCES product_product(id),
  location_id INTEGER NOT NULL REFERENCES stock_location(id),
  warehouse_id INTEGER REFERENCES stock_warehouse(id),
  quantity REAL NOT NULL DEFAULT 0, reserved_quantity REAL NOT NULL DEFAULT 0, write_date TEXT NOT NULL);
CREATE INDEX stock_quant_product ON stock_quant(product_id);
CREATE INDEX stock_quant_warehouse ON stock_quant(warehouse_id);
CREATE TABLE res_partner (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, ref TEXT, email TEXT, is_company INTEGER NOT NULL DEFAULT 0,
  active INTEGER NOT NULL DEFAULT 1, write_date TEXT NOT NULL);
CREATE TABLE sale_order (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, client_order_ref TEXT,
  partner_id INTEGER NOT NULL REFERENCES res_partner(id), state TEXT NOT NULL DEFAULT 'draft',
  currency_id INTEGER REFERENCES res_currency(id), note TEXT, amount_untaxed REAL NOT NULL DEFAULT 0,
  amount_total REAL NOT NULL DEFAULT 0, date_order TEXT NOT NULL, create_date TEXT NOT NULL,
  write_date TEXT NOT NULL);
CREATE INDEX sale_order_client_order_ref ON sale_order(client_order_ref);
CREATE TABLE sale_order_line (
  id INTEGER PRIMARY KEY, order_id INTEGER NOT NULL REFERENCES sale_order(id),
  product_id INTEGER NOT NULL REFERENCES product_product(id), name TEXT NOT NULL,
  product_uom_qty REAL NOT NULL, price_unit REAL NOT NULL, price_subtotal REAL NOT NULL);
CREATE INDEX sale_order_line_order ON sale_order_line(order_id);
CREATE TABLE account_move (
  id INTEGER PRIMARY KEY, name TEXT NOT NULL, move_type TEXT NOT NULL DEFAULT 'entry', ref TEXT,
  invoice_origin TEXT, partner_id INTEGER REFERENCES res_partner(id), state TEXT NOT NULL DEFAULT 'draft',
  currency_id INTEGER REFERENCES res_currency(id), amount_total REAL NOT NULL DEFAULT 0,
  create_date TEXT NOT NULL, write_date TEXT NOT NULL);
CREATE INDEX account_move_ref ON account_move(ref);
CREATE TABLE account_move_line (
  id INTEGER PRIMARY KEY, move_id INTEGER NOT NULL REFERENCES account_move(id),
  product_id INTEGER REFERENCES product_product(id), name TEXT NOT NULL,
  quantity REAL NOT NULL, price_unit REAL NOT NULL, price_subtotal REAL NOT NULL);
CREATE INDEX account_move_line_move ON account_move_line(move_id);
"""
