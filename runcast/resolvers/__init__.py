"""The service layer shared by GraphQL and REST: auth, workflows, executions, history."""
