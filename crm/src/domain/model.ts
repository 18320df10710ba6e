// The CRM's vocabulary: what its API shows and what the domain asks its stores to keep. The stores
// implement what the domain asks in these words, and import them as types only.

export interface Customer {
  id: number;
  name: string;
  email: string;
  createdAt: string;
  /** The W3C trace context the customer was created in, when traces are on: where its journey's trace begins. */
  traceparent?: string;
}

export interface NewCustomer {
  name: string;
  email: string;
  createdAt: string;
  traceparent?: string | undefined;
}

export interface WebhookEndpoint {
  id: number;
  url: string;
  secret: string;
  /**
   * How many messages one request may carry: 1 sends each event alone, more sends due messages
   * together as a JSON array.
   */
  batchSize: number;
  createdAt: string;
}

export type NewEndpoint = Omit<WebhookEndpoint, 'id'>;

export type MessageStatus = 'pending' | 'delivered' | 'failed';

export interface WebhookMessage {
  id: number;
  eventType: string;
  customerId: number;
  status: MessageStatus;
  attempts: number;
  lastAttemptAt: string | null;
  lastStatus: number | null;
  lastError: string | null;
  /** When the dispatcher sends it next; null once delivered or failed. */
  nextAttemptAt: string | null;
}

/** An event for every webhook endpoint: its type, and the exact body every attempt to send it carries. */
export interface WebhookEvent {
  eventType: string;
  payload: string;
}
