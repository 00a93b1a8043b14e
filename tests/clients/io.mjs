// Shared by the client scripts: read the scenario from stdin, print one JSON answer on stdout.

/** The scenario the test wrote to stdin, as an object. */
export async function readScenario() {
  const chunks = [];
  for await (const chunk of process.stdin) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString("utf8"));
}

/** Print `answer` and exit; a stuck client still answers with what it saw by `deadlineMs`. */
export async function answer(run, deadlineMs = 20000) {
  const partial = { results: [] };
  const timer = setTimeout(() => {
    process.stdout.write(JSON.stringify({ ...partial, timedOut: true }));
    process.exit(2);
  }, deadlineMs);
  const result = await run(partial);
  clearTimeout(timer);
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
}

/** What a client library handed to an error callback, as plain JSON: GraphQL errors (a list,
 * or one error as subscriptions-transport-ws passes it), a close event, or a message. */
export function describeError(error) {
  if (Array.isArray(error)) return { errors: error };
  if (error && typeof error === "object" && "extensions" in error) return { errors: [error] };
  if (error && typeof error.code === "number") {
    return { close: { code: error.code, reason: String(error.reason ?? "") } };
  }
  if (error && Array.isArray(error.errors)) return { errors: error.errors };
  return { message: String(error?.message ?? error) };
}
