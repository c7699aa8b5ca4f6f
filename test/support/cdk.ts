/** App context for the tests' apps, as the ready app's cdk.json sets it. */

/** CloudFormation's own template rules (e.g. Lambda's 15-minute timeout) as synth errors, not warnings. */
export const TEMPLATE_RULES_AS_ERRORS = { '@aws-cdk/core:validateAgainstDefaultRules': true } as const;
