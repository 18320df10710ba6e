import { EnvReader, readCommonConfig, type CommonConfig, type Env } from '@welcome/common';

export type InventoryConfig = CommonConfig;

export function loadConfig(env: Env, isTty: boolean): Readonly<InventoryConfig> {
  const reader = new EnvReader(env);
  return reader.done(readCommonConfig(reader, 'inventory', 3002, isTty));
}
