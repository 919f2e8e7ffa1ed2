package sim

import (
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// graphqlPath is Coupa's GraphQL endpoint (fact sheet §0, wave 2 §7).
const graphqlPath = "/api/graphql"

// graphqlSDL is the simulated instance's GraphQL schema: the objects Coupa's GraphQL is known to expose
// to identity readers (users, user groups, roles, content groups, account groups) and the reference data
// users embed. Field names are the REST attributes in lowerCamelCase; collections take Coupa's REST-style
// filter string as their one argument, `query`; single objects take `id`. There are no mutations.
var graphqlSDL = `
type Query {
  users(query: String): [User!]
  user(id: Int!): User
  userGroups(query: String): [UserGroup!]
  userGroup(id: Int!): UserGroup
  roles(query: String): [Role!]
  role(id: Int!): Role
  businessGroups(query: String): [BusinessGroup!]
  businessGroup(id: Int!): BusinessGroup
  accountGroups(query: String): [AccountGroup!]
  currencies(query: String): [Currency!]
  accounts(query: String): [Account!]
}

type User {
  id: Int!
  createdAt: String
  updatedAt: String
  login: String
  email: String
  firstname: String
  lastname: String
  fullname: String
  employeeNumber: String
  active: Boolean
  apiUser: Boolean
  authenticationMethod: String
  ssoIdentifier: String
  defaultLocale: String
  businessGroupSecurityType: Int
  mentionName: String
  type: String
  manager: User
  defaultCurrency: Currency
  defaultAccount: Account
  roles: [Role!]
  userGroups: [UserGroup!]
  contentGroups: [BusinessGroup!]
  accountGroups: [AccountGroup!]
  createdBy: User
  updatedBy: User
` + licenseFields() + `}

type UserGroup {
  id: Int!
  createdAt: String
  updatedAt: String
  name: String
  description: String
  active: Boolean
  canApprove: Boolean
  mentionName: String
  open: Boolean
  type: String
  users: [User!]
  createdBy: User
  updatedBy: User
}

type Role {
  id: Int!
  createdAt: String
  updatedAt: String
  name: String
  description: String
  omnipotent: Boolean
  systemRole: Boolean
  createdBy: User
  updatedBy: User
}

type BusinessGroup {
  id: Int!
  createdAt: String
  updatedAt: String
  name: String
  description: String
  active: Boolean
}

type AccountGroup {
  id: Int!
  name: String
}

type Currency {
  id: Int!
  createdAt: String
  updatedAt: String
  code: String
  decimals: Int
  enabledFlag: Boolean
}

type Account {
  id: Int!
  createdAt: String
  updatedAt: String
  name: String
  code: String
  active: Boolean
  accountTypeId: Int
}
`

// licenseFields declares the license booleans of users (purchasing-user → purchasingUser).
func licenseFields() string {
	var b strings.Builder
	for _, l := range licenses {
		b.WriteString("  " + camel(l) + ": Boolean\n")
	}
	return b.String()
}

// camel is the lowerCamelCase GraphQL name of a dashed or underscored REST attribute.
func camel(attr string) string {
	var b strings.Builder
	up := false
	for i := 0; i < len(attr); i++ {
		c := attr[i]
		if c == '-' || c == '_' {
			up = true
			continue
		}
		if up && c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		up = false
		b.WriteByte(c)
	}
	return b.String()
}

var graphqlSchema = gqlparser.MustLoadSchema(&ast.Source{Name: "coupa.graphql", Input: graphqlSDL})

// graphqlRoots maps the collection and single-object fields of Query to resources; account groups
// have none (the simulated instance has no account groups, so they are always empty).
var graphqlRoots = map[string]string{
	"users": "users", "user": "users", "userGroups": "user_groups", "userGroup": "user_groups",
	"roles": "roles", "role": "roles", "businessGroups": "business_groups", "businessGroup": "business_groups",
	"accountGroups": "", "currencies": "currencies", "accounts": "accounts",
}

// graphqlTypes maps object types to the resource their records come from, to expand embedded stubs.
var graphqlTypes = map[string]string{
	"User": "users", "UserGroup": "user_groups", "Role": "roles", "BusinessGroup": "business_groups",
	"Currency": "currencies", "Account": "accounts",
}
