// Subscribes over the older graphql-ws protocol with subscriptions-transport-ws, one
// connection per subscription. stdin and stdout as graphql-ws.mjs; a refused connection
// ends with end "connection_error" and the server's payload.
import { SubscriptionClient } from "subscriptions-transport-ws";
import WebSocket from "ws";

import { answer, describeError, readScenario } from "./io.mjs";

function subscribe(url, subscription) {
  const { token } = subscription;
  const result = { name: subscription.name, events: [] };
  return new Promise((resolve) => {
    let client = null;
    const finish = (end, error) => {
      if (result.end) return;
      result.end = end;
      if (error !== undefined) result.error = error;
      client.close();
      resolve(result);
    };
    client = new SubscriptionClient(
      url,
      {
        reconnect: false,
        lazy: true,
        connectionParams: token ? { authorization: `Bearer ${token}` } : {},
        connectionCallback: (error) => {
          if (error) finish("connection_error", { payload: error });
        },
      },
      WebSocket,
    );
    client
      .request({ query: subscription.document, variables: subscription.variables ?? {} })
      .subscribe({
        next: (payload) => result.events.push(payload),
        error: (error) => finish("error", describeError(error)),
        complete: () => finish("complete"),
      });
  });
}

await answer(async (partial) => {
  const scenario = await readScenario();
  for (const subscription of scenario.subscriptions) {
    partial.results.push(await subscribe(scenario.url, subscription));
  }
  return partial;
});
