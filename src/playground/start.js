// Starts GraphiQL against this gateway. Headers typed in the editor (the
// Live Agent token) are sent with every request and not stored.
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
  var fetcher = GraphiQL.createFetcher({ url: window.location.origin + '/graphql' });
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
