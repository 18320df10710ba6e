// Runs a Lambda handler the way Lambda does, through lambda-local, in a process of its own:
//   node test/support/run-lambda.mjs <handler file> <event JSON> <environment JSON>
// and prints the function's result as the last line, after "RESULT ".
import lambdaLocal from 'lambda-local';

const [lambdaPath, event, environment] = process.argv.slice(2);
const result = await lambdaLocal.execute({
  lambdaPath,
  lambdaHandler: 'handler',
  esm: true,
  event: JSON.parse(event),
  environment: JSON.parse(environment),
  timeoutMs: 20_000,
  verboseLevel: 0,
});
process.stdout.write(`\nRESULT ${JSON.stringify(result)}\n`);
