import { groupCommit, type Postgres, type Settled } from '@welcome/common';
import type { Customer } from '../../domain/model.js';
import { emailKey, toCustomer, type Asked, type CustomerRow, type CustomerStore } from './customer-store.js';

const CUSTOMER_COLUMNS = 'id, name, email, email_key, created_at, traceparent';

// The customers of a batch in one statement, ids drawn in the order they were asked for. An email
// already taken is left out before it draws an id (no gap for a refusal); ON CONFLICT covers the
// one taken by a transaction that is still open, once that transaction commits.
const INSERT_CUSTOMERS = `
  INSERT INTO customers (name, email, email_key, created_at, traceparent)
  SELECT asked.name, asked.email, asked.email_key, asked.created_at, asked.traceparent
  FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[])
    WITH ORDINALITY AS asked (name, email, email_key, created_at, traceparent, position)
  WHERE NOT EXISTS (SELECT 1 FROM customers taken WHERE taken.email_key = asked.email_key)
  ORDER BY asked.position
  ON CONFLICT (email_key) DO NOTHING
  RETURNING ${CUSTOMER_COLUMNS}`;

// A disabled endpoint's message is kept with no next attempt; a throttled one's waits for its Retry-After.
const ENQUEUE_MESSAGES = `
  INSERT INTO webhook_messages (endpoint_id, event_type, customer_id, payload, next_attempt_at)
  SELECT endpoint.id, event.event_type, event.customer_id, event.payload,
    CASE WHEN endpoint.disabled_at IS NULL THEN GREATEST(event.created_at, endpoint.throttled_until) END
  FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[]) AS event (customer_id, event_type, payload, created_at)
  CROSS JOIN webhook_endpoints endpoint
  ORDER BY event.customer_id, endpoint.id`;

/**
 * Customers on a PostgreSQL server that any number of CRM replicas share.
 *
 * The feed's cursor is an id, so ids must become visible in id order: with a bare sequence, a
 * transaction that drew id N can commit after one that drew N+1, and a reader that already moved
 * past N+1 never sees N. Every transaction that inserts customers therefore takes one
 * transaction-scoped advisory lock before it draws its ids, as Message DB does: the next one draws
 * its ids only once the previous one has committed (or rolled back) and released it, so every id
 * below a visible one is visible too, or never will be.
 *
 * Customers asked for while a transaction is under way are committed together in the next one
 * (one lock, one commit); the transaction ends with a NOTIFY carrying the highest id, which wakes
 * the long polls and dispatchers of every replica.
 */
export function createPostgresCustomerStore(db: Postgres): CustomerStore {
  const insertLock = `welcome-integration:customers:${db.schema}`;
  const channel = db.channel('customers');

  const insertAll = async (batch: Asked[]): Promise<Array<Settled<Customer | undefined>>> => {
    // The first customer of the batch with an email is the one asked for; the others are refused.
    const firstWithKey = new Map<string, number>();
    batch.forEach(({ customer }, index) => {
      if (!firstWithKey.has(emailKey(customer.email))) firstWithKey.set(emailKey(customer.email), index);
    });
    const asked = [...firstWithKey.values()].map((index) => batch[index]!.customer);
    const created = await db.transaction(async (tx) => {
      await tx.query('SELECT pg_advisory_xact_lock(hashtext($1))', [insertLock]);
      const rows = await tx.query<CustomerRow>(INSERT_CUSTOMERS, [
        asked.map((customer) => customer.name),
        asked.map((customer) => customer.email),
        asked.map((customer) => emailKey(customer.email)),
        asked.map((customer) => customer.createdAt),
        asked.map((customer) => customer.traceparent ?? null),
      ]);
      if (rows.length === 0) return rows;
      const customers = rows.map(toCustomer);
      const events = rows.map((row, index) => batch[firstWithKey.get(row.email_key)!]!.eventOf(customers[index]!));
      await tx.query(ENQUEUE_MESSAGES, [
        customers.map((customer) => customer.id),
        events.map((event) => event.eventType),
        events.map((event) => event.payload),
        customers.map((customer) => customer.createdAt),
      ]);
      await tx.query('SELECT pg_notify($1, $2)', [
        channel,
        String(Math.max(...customers.map((customer) => customer.id))),
      ]);
      return rows;
    });
    const byKey = new Map(created.map((row) => [row.email_key, toCustomer(row)]));
    // A customer refused for its email is answered undefined.
    return batch.map(({ customer }, index) => {
      const key = emailKey(customer.email);
      return { ok: true, value: firstWithKey.get(key) === index ? byKey.get(key) : undefined };
    });
  };
  const insertTogether = groupCommit<Asked, Customer | undefined>(insertAll);

  return {
    insert: (customer, eventOf) => insertTogether({ customer, eventOf }),
    async findById(id) {
      const [row] = await db.query<CustomerRow>(`SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id = $1`, [id]);
      return row && toCustomer(row);
    },
    async listAfter(after, limit) {
      const rows = await db.query<CustomerRow>(
        `SELECT ${CUSTOMER_COLUMNS} FROM customers WHERE id > $1 ORDER BY id LIMIT $2`,
        [after, limit],
      );
      return rows.map(toCustomer);
    },
    async highestId() {
      const [row] = await db.query<{ id: number }>('SELECT COALESCE(MAX(id), 0) AS id FROM customers');
      return row!.id;
    },
    watchCommits(watcher) {
      return db.listen(
        channel,
        (payload) => {
          const highestId = Number(payload);
          if (Number.isSafeInteger(highestId)) watcher.committed(highestId);
        },
        () => watcher.missed(),
      );
    },
  };
}
