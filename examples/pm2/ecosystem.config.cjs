// pm2 start examples/pm2/ecosystem.config.cjs  (DATA_ZIP=… from make-data.mjs; PORT optional)
module.exports = {
  apps: [{ name: 'shmarray-pm2-example', script: `${__dirname}/app.mjs`, exec_mode: 'cluster', instances: 4, env: { DATA_ZIP: process.env.DATA_ZIP, PORT: process.env.PORT ?? '3000' } }],
};
