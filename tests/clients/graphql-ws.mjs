// Subscribes over graphql-transport-ws with the graphql-ws client, one connection per
// subscription. stdin: {url, subscriptions: [{name, token|null, document, variables}]}.
// stdout: {results: [{name, events: [payload…], end: "complete"|"error", error?}]}.
import { createClient } from "graphql-ws";
import WebSocket from "ws";

import { answer, describeError, readScenario } from "./io.mjs";

function subscribe(url, subscription) {
  const { token } = subscription;
  const connectionParams = token ? { authorization: `Bearer ${token}` } : {};
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    retryAttempts: 0,
  });
  const result = { name: subscription.name, events: [] };
  return new Promise((resolve) => {
    const finish = (end, error) => {
      result.end = end;
      if (error !== undefined) result.error = describeError(error);
      client.dispose();
      resolve(result);
    };
    client.subscribe(
      { query: subscription.document, variables: subscription.variables ?? {} },
      {
        next: (payload) => result.events.push(payload),
        error: (error) => finish("error", error),
        complete: () => finish("complete"),
      },
    );
  });
}

await answer(async (partial) => {
  const scenario = await readScenario();
  for (const subscription of scenario.subscriptions) {
    partial.results.push(await subscribe(scenario.url, subscription));
  }
  return partial;
});
