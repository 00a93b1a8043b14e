// Runs queries through Apollo Client with its persisted-queries link over HttpLink, and
// records every HTTP request the link chain sends. stdin: {url, token, useGET, queries:
// [{name, document, variables?}]}. stdout: {results: [{name, data, errors}], requests:
// [{method, query, hash, status}]}, where query says whether the text was sent and hash is
// the extensions' sha256Hash.
import { createHash } from "node:crypto";

import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, gql } from "@apollo/client";
import { createPersistedQueryLink } from "@apollo/client/link/persisted-queries";

import { answer, readScenario } from "./io.mjs";

function sent(url, init) {
  if ((init?.method ?? "GET") === "GET") {
    const params = new URL(url).searchParams;
    const extensions = params.get("extensions");
    return { query: params.has("query"), extensions: extensions ? JSON.parse(extensions) : null };
  }
  const body = JSON.parse(init.body);
  return { query: typeof body.query === "string", extensions: body.extensions ?? null };
}

await answer(async (partial) => {
  const scenario = await readScenario();
  partial.requests = [];
  const recordingFetch = async (url, init) => {
    const { query, extensions } = sent(url, init);
    const response = await fetch(url, init);
    partial.requests.push({
      method: init?.method ?? "GET",
      query,
      hash: extensions?.persistedQuery?.sha256Hash ?? null,
      status: response.status,
    });
    return response;
  };
  const persisted = createPersistedQueryLink({
    sha256: (text) => createHash("sha256").update(text).digest("hex"),
    useGETForHashedQueries: scenario.useGET,
  });
  const http = new HttpLink({
    uri: scenario.url,
    headers: { authorization: `Bearer ${scenario.token}` },
    fetch: recordingFetch,
  });
  const client = new ApolloClient({ link: persisted.concat(http), cache: new InMemoryCache() });
  for (const { name, document, variables } of scenario.queries) {
    const result = await client.query({
      query: gql(document),
      variables,
      fetchPolicy: "network-only",
      errorPolicy: "all",
    });
    const entry = { name, data: result.data ?? null };
    if (CombinedGraphQLErrors.is(result.error)) entry.errors = result.error.errors;
    else if (result.error) entry.errors = [{ message: String(result.error.message) }];
    partial.results.push(entry);
  }
  return partial;
});
