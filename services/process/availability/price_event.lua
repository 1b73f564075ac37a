-- Prepended to the price projection's scripts (price_apply.lua, price_swap.lua): what a price change is, and the
-- `price.applied` event (domain `catalog`) that goes to the outbox in the same script as the projection write.
-- Prices are the canonical Price JSON (shared/models/catalog.py) as the projection stores it.

local function price_decode(raw)
  if not raw then return nil end
  local ok, price = pcall(cjson.decode, raw)
  if ok and type(price) == 'table' then return price end
  return nil
end

-- A change a price's readers can see: the amount, the currency or the tax inclusion (a newer as_of alone is not).
local function price_differs(held, new)
  return held.amount ~= new.amount or held.currency ~= new.currency or held.tax_included ~= new.tax_included
end

-- The event id names the price the projection moved to (SKU, as_of, figures): the same change, applied by the
-- ERP's event or by a sync, is one id; the projection never moves back to an older as_of, so a later change is
-- another id.
local function price_applied(outbox, now_iso, new, held)
  local tax = 'net'
  if new.tax_included then tax = 'gross' end
  local previous = cjson.null
  if held then previous = held.amount end
  local event = {
    id = 'price.applied:' .. new.sku .. ':' .. new.as_of .. ':' .. string.format('%d', new.amount) .. new.currency
      .. ':' .. tax,
    type = 'price.applied', occurred_at = now_iso, source = 'availability', key = new.sku, schema_version = 1,
    payload = {
      sku = new.sku, amount = new.amount, currency = new.currency, tax_included = new.tax_included,
      as_of = new.as_of, previous_amount = previous,
    },
  }
  redis.call('XADD', outbox, '*', 'domain', 'catalog', 'data', cjson.encode(event))
end
