import type { ChargeInput } from './charges.js';

export type ParsedCharge =
  | { ok: true; charge: ChargeInput }
  /** `status` 400 for bad parameters, 415 for a body the API does not read. */
  | { ok: false; status: 400 | 415; param?: string; detail: string };

const fields = ['amount', 'currency', 'source'] as const;

/**
 * Read a create-charge body the way Stripe does: form-encoded (`amount=2000&currency=usd&…`) or
 * JSON (`{"amount":2000,…}`), then check each parameter.
 */
export function parseChargeBody(contentType: string | undefined, body: Buffer): ParsedCharge {
  const mediaType = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  let params: Record<string, unknown>;
  if (mediaType === 'application/json' || mediaType.endsWith('+json')) {
    let parsed: unknown;
    try {
      parsed = body.length === 0 ? {} : JSON.parse(body.toString('utf8'));
    } catch {
      return { ok: false, status: 400, detail: 'The body is not valid JSON.' };
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      return { ok: false, status: 400, detail: 'The JSON body must be an object.' };
    }
    params = parsed as Record<string, unknown>;
  } else if (mediaType === 'application/x-www-form-urlencoded' || (mediaType === '' && body.length === 0)) {
    const form = new URLSearchParams(body.toString('utf8'));
    params = {};
    for (const [name, value] of form) {
      if (name in params) return { ok: false, status: 400, param: name, detail: `${name} is given twice.` };
      params[name] = value;
    }
  } else {
    return {
      ok: false,
      status: 415,
      detail: `Send application/x-www-form-urlencoded or application/json, not ${mediaType || 'a body without Content-Type'}.`,
    };
  }
  return validate(params);
}

function validate(params: Record<string, unknown>): ParsedCharge {
  for (const name of Object.keys(params)) {
    if (!(fields as readonly string[]).includes(name)) {
      return { ok: false, status: 400, param: name, detail: `Received unknown parameter: ${name}.` };
    }
  }
  const { amount, currency, source } = params;
  const amountNumber = typeof amount === 'string' && /^\d{1,15}$/.test(amount) ? Number(amount) : amount;
  if (amount === undefined) return missing('amount');
  if (typeof amountNumber !== 'number' || !Number.isSafeInteger(amountNumber) || amountNumber <= 0) {
    return invalid(
      'amount',
      'amount must be a positive integer, in the smallest currency unit (2000 = $20.00).',
    );
  }
  if (currency === undefined) return missing('currency');
  if (typeof currency !== 'string' || !/^[A-Za-z]{3}$/.test(currency)) {
    return invalid('currency', 'currency must be a three-letter ISO code, such as usd.');
  }
  if (source === undefined) return missing('source');
  if (typeof source !== 'string' || source.length === 0 || source.length > 255) {
    return invalid(
      'source',
      'source must be a non-empty string of at most 255 characters, such as tok_visa.',
    );
  }
  return { ok: true, charge: { amount: amountNumber, currency: currency.toLowerCase(), source } };
}

function missing(param: string): ParsedCharge {
  return { ok: false, status: 400, param, detail: `Missing required parameter: ${param}.` };
}

function invalid(param: string, detail: string): ParsedCharge {
  return { ok: false, status: 400, param, detail };
}
