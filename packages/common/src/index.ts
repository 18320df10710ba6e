export * from './config.js';
export * from './database.js';
export * from './errors.js';
export * from './http.js';
export * from './logger.js';
export * from './paging.js';
export * from './validation.js';
export * from './process.js';
