export interface ThrowawayPostgres {
  /** An admin connection to the server's `postgres` database. */
  url: string;
  port: number;
  /** Stops the server, keeping its files. */
  pause(): Promise<void>;
  /** Starts it again on the same files and port. */
  resume(): Promise<void>;
  /** Stops it and deletes its files. */
  stop(): Promise<void>;
}

export function startThrowawayPostgres(options?: { maxConnections?: number }): Promise<ThrowawayPostgres>;
