#!/usr/bin/env node
/** `npx cdk deploy`: the ready stack (bin/ready-app.ts), with cdk.json's feature flags. */
import { readyApp } from './ready-app';

readyApp();
