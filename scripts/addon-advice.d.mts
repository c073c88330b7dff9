/** Why an addon load failed and its fix, to follow "the addon X does not load: " (see addon-advice.mjs). */
export declare function addonAdvice(message: string, options: { nodedir?: string | undefined; inDependency: boolean }): string;
