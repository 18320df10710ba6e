export default async function teardown() {
  await globalThis.__welcomePostgres?.stop();
}
