// Starts GraphiQL against this gateway. Headers typed in the editor (the
// Live Agent token) are sent with every request and not stored. Queries go
// over HTTP; subscriptions over WebSocket, each result shown as it arrives.
(function () {
  var defaultQuery = [
    '# Put your Live Agent access token in the Headers tab below, then run.',
    'query LatestConversations {',
    '  conversations(first: 10, orderBy: [{createdAt: DESC}]) {',
    '    totalCount',
    '    nodes {',
    '      id',
    '      status',
    '      createdAt',
    '      inbox { name }',
    '      assignee { name }',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');
  var url = window.location.origin + '/graphql';
  var queries = GraphiQL.createFetcher({ url: url });
  // A subscription goes over a WebSocket of its own (graphql-transport-ws);
  // browsers cannot set headers on one, so the headers of the editor go in
  // `connection_init`, where the gateway reads the same credential.
  var fetcher = function (params, opts) {
    var headers = (opts && opts.headers) || {};
    if (operationType(opts && opts.documentAST, params.operationName) !== 'subscription') {
      return queries(params, opts);
    }
    return subscribe(url.replace(/^http/, 'ws'), headers, params);
  };
  // The type of the operation that runs: the named one, or the only one.
  function operationType(document, name) {
    var operations = ((document && document.definitions) || []).filter(function (d) {
      return d.kind === 'OperationDefinition';
    });
    var chosen = name
      ? operations.filter(function (d) { return d.name && d.name.value === name; })[0]
      : operations.length === 1 ? operations[0] : null;
    return chosen ? chosen.operation : null;
  }

  // An observable (what GraphiQL shows result by result, and stops with
  // its stop button) over one WebSocket per subscription.
  function subscribe(wsUrl, headers, params) {
    return {
      subscribe: function (sink) {
        var done = false;
        var socket = new WebSocket(wsUrl, 'graphql-transport-ws');
        var finish = function (error) {
          if (done) return;
          done = true;
          if (socket.readyState <= WebSocket.OPEN) socket.close(1000);
          if (error) sink.error(error);
          else sink.complete();
        };
        var send = function (message) { socket.send(JSON.stringify(message)); };
        socket.onopen = function () {
          send({ type: 'connection_init', payload: { headers: headers } });
        };
        socket.onmessage = function (event) {
          var message;
          try { message = JSON.parse(event.data); } catch (e) { return finish(e); }
          if (message.type === 'connection_ack') {
            send({ id: '1', type: 'subscribe', payload: params });
          } else if (message.type === 'ping') {
            send({ type: 'pong' });
          } else if (message.type === 'next') {
            sink.next(message.payload);
          } else if (message.type === 'error') {
            sink.next({ errors: message.payload });
            finish();
          } else if (message.type === 'complete') {
            finish();
          }
        };
        socket.onclose = function (event) {
          if (done) return;
          var why = event.code === 1000 || event.code === 1001
            ? null
            : new Error('the subscription closed (' + event.code + (event.reason ? ': ' + event.reason : '') + ')');
          finish(why);
        };
        return {
          unsubscribe: function () {
            if (!done && socket.readyState === WebSocket.OPEN) send({ id: '1', type: 'complete' });
            finish();
          },
        };
      },
    };
  }

  var root = ReactDOM.createRoot(document.getElementById('graphiql'));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: defaultQuery,
      defaultHeaders: JSON.stringify({ Authorization: 'Bearer <your Live Agent access token>' }, null, 2),
      headerEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: 'headers',
    })
  );
})();
