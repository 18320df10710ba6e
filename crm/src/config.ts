import { EnvReader, readCommonConfig, type CommonConfig, type Env } from '@welcome/common';

export type CrmConfig = CommonConfig;

export function loadConfig(env: Env, isTty: boolean): Readonly<CrmConfig> {
  const reader = new EnvReader(env);
  return reader.done(readCommonConfig(reader, 'crm', 3001, isTty));
}
