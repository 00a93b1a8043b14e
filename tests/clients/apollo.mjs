// Runs queries and mutations through Apollo Client, one client (and one InMemoryCache) per
// named token. stdin: {url, clients: {name: token|null}, operations: [{name, client, kind:
// "query"|"mutation", document, variables, fetchPolicy?, until?: {path, oneOf}}]}. A variable
// {"$from": [name, ...path]} takes a value from an earlier operation's data; `until` repeats a
// query until the value at `path` in its data is one of `oneOf`.
// stdout: {results: [{name, data, errors, networkError, polls, cache}]}, where cache is the
// client's normalized store (`cache.extract()`) after the operation.
import {
  ApolloClient,
  CombinedGraphQLErrors,
  HttpLink,
  InMemoryCache,
  ServerError,
  gql,
} from "@apollo/client";

import { answer, readScenario } from "./io.mjs";

const POLL_DELAY_MS = 25;
const MAX_POLLS = 400;

function clientFor(url, token) {
  const headers = token ? { authorization: `Bearer ${token}` } : {};
  const link = new HttpLink({ uri: url, headers });
  return new ApolloClient({ link, cache: new InMemoryCache() });
}

function at(data, path) {
  return path.reduce((value, key) => (value == null ? undefined : value[key]), data);
}

function fill(variables, results) {
  const pick = (value) => {
    if (value === null || typeof value !== "object") return value;
    if (Array.isArray(value.$from)) {
      const [name, ...path] = value.$from;
      return at(results.find((result) => result.name === name)?.data, path);
    }
    if (Array.isArray(value)) return value.map(pick);
    return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, pick(item)]));
  };
  return pick(variables ?? {});
}

async function once(client, operation) {
  const common = { variables: operation.variables, errorPolicy: "all" };
  if (operation.kind === "mutation") {
    return client.mutate({ mutation: gql(operation.document), ...common });
  }
  const fetchPolicy = operation.fetchPolicy ?? "network-only";
  return client.query({ query: gql(operation.document), fetchPolicy, ...common });
}

function outcome(operation, result, polls, client) {
  const cache = client.cache.extract();
  const entry = { name: operation.name, data: result.data ?? null, polls, cache };
  if (CombinedGraphQLErrors.is(result.error)) entry.errors = result.error.errors;
  else if (ServerError.is(result.error)) {
    entry.networkError = { statusCode: result.error.statusCode, body: result.error.bodyText };
  } else if (result.error) entry.networkError = { message: result.error.message };
  return entry;
}

async function run(operation, client) {
  const { until } = operation;
  const done = (data) => !until || until.oneOf.includes(at(data, until.path));
  let polls = 1;
  let result = await once(client, operation);
  while (!done(result.data)) {
    if (polls === MAX_POLLS || result.error) break;
    await new Promise((resolve) => setTimeout(resolve, POLL_DELAY_MS));
    result = await once(client, operation);
    polls += 1;
  }
  return outcome(operation, result, polls, client);
}

await answer(async (partial) => {
  const scenario = await readScenario();
  const clients = Object.fromEntries(
    Object.entries(scenario.clients).map(([name, token]) => [name, clientFor(scenario.url, token)]),
  );
  for (const operation of scenario.operations) {
    const variables = fill(operation.variables, partial.results);
    partial.results.push(await run({ ...operation, variables }, clients[operation.client]));
  }
  return partial;
});
